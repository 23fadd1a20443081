"""zuoxi (坐席): quality inspection and coaching for contact-center agents."""

__version__ = "0.1.0"
