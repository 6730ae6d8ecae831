"""Wire types shared by WorldService, Gateway and SDK (SPEC §2–§8)."""
