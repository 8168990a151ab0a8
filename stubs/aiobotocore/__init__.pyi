# A small stub for the aiobotocore calls imgfleet makes (src/imgfleet/adapters/blob/s3.py).
# aiobotocore ships no types; like stubs/pyvips this one is deliberately narrow: a call that
# is not here is a call nobody reviewed the types of.
__version__: str
