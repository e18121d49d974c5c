"""The official binary format (`<class>.bin`): the scanner (`scan.py`), the source
(`reader.py`: `BinarySource`) and the writer (`write.py`)."""
