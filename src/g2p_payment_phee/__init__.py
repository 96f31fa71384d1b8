"""g2p-payment-phee: pays social-protection benefits through Mifos Payment Hub EE."""

__version__ = "0.1.0"
