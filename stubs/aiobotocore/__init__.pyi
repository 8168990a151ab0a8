# A small stub for the aiobotocore calls imgfleet makes (src/imgfleet/adapters/s3_client.py and
# the S3 adapters over it).
# aiobotocore ships no types; like stubs/pyvips this one is deliberately narrow: a call that
# is not here is a call nobody reviewed the types of.
__version__: str
