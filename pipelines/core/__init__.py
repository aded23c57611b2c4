"""The ground floor: what every stage shares (instance paths, clock, SQL helpers, the partnership's
configuration, the warehouse resource). It imports no stage."""
