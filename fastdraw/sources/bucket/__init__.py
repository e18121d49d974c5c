"""The public Quick, Draw! bucket: its HTTP transport (`transport`), its listing (`listing`) and
verified, resumable downloads (`download`)."""
