"""Country names → ISO codes: the one definition lives in ``netfreedom.models.countries`` (level 0, so event
readers use it too); re-exported here for the index's modules."""

from netfreedom.models.countries import EXTRA_NAMES, is_iso2, iso2_of, name_of

__all__ = ["EXTRA_NAMES", "is_iso2", "iso2_of", "name_of"]
