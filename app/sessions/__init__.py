"""What is known about sessions beyond one actor: live state merged with stored state and the cluster's view."""
