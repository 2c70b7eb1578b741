"""The candidate and admin WebSockets and the tasks that write to them."""
