"""mra-exchange: exchange of conformity-assessment results with MRA partners."""

__version__ = "0.1.0"
