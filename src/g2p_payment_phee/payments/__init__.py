"""Payments and payment batches, their state machines, and the payment-manager protocol."""
