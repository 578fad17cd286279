"""The web page (Gradio): upload a clip or turn on the webcam, watch the mood, hear the playlist.

``python -m emotune.app [key=value ...]`` (``make app``) composes ``conf/app.yaml``; :mod:`.engine` is the one
adapter to the runtime chain, :mod:`.handlers` what the page does, :mod:`.ui` the layout.
"""
