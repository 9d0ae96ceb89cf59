"""The Textual wizard. Imported only when the interactive program starts."""
