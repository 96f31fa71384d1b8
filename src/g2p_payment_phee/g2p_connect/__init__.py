"""G2P Connect disburse: senders, what they send into the domain, statuses back.

See docs/g2p-connect.md.
"""
