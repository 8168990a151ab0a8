# A small stub for the botocore names imgfleet uses (src/imgfleet/adapters/s3_client.py and
# the S3 adapters over it).
__version__: str
