"""The beneficiary registry: registrants, their IDs, phones, emails and bank accounts."""
