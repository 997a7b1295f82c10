# Rule documentation, one YAML file per rule; installed as the package shapelint._rules.
