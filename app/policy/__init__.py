"""Authorization as Cedar policies: the files in ``policies/``, checked against
``schema.cedarschema.json`` at start-up and evaluated by cedarpy. Imports no Flask."""
