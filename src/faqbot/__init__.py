"""faqbot: answers questions about medicines with verbatim passages from drug pages."""

__version__ = "0.1.0"
