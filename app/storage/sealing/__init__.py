"""Encryption at rest: data keys, the keystore, sealed rows and the migration to them."""
