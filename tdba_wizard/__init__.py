"""tdba-wizard: connect a CFA to the Tableau de bord de l'apprentissage and keep it connected."""

__version__ = "0.1.0"
