"""`sessionbot run`: join scheduled sessions on time, many per process, and survive crashes."""
