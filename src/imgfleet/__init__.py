"""imgfleet: a geo-distributed image processing service speaking imgproxy's URL dialect."""

__version__ = "0.1.0"
