"""From platform to ticket: raw inbound events stored before they are acknowledged, then ingested into customers, tickets and messages."""
