"""The dashboard ops people open: Streamlit over the published read-only copy `data/bi.duckdb`."""
