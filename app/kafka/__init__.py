"""The Kafka mirror, its process, and the cluster view other nodes feed."""
