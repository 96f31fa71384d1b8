"""Programs, their beneficiaries, cycles and entitlements, with maker–checker approval."""
