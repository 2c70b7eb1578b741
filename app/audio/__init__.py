"""The microphone path on the server (issue 24): audio windows from the candidate socket, judged
with a voice-activity detector, handed to the session's actor; episode clips kept sealed."""
