"""One module per wizard step, plus the home screen and the modals."""
