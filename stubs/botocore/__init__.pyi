# A small stub for the botocore names imgfleet uses (src/imgfleet/adapters/blob/s3.py).
__version__: str
