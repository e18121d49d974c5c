"""What users look at: statistics of class files (`stats`), the notebook's mosaic of source
drawings (`mosaic`) and previews of built datasets (`preview`), laid out by `grid`."""
