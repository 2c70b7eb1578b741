"""What is known of sessions beyond one actor: live state merged with stored and cluster state."""
