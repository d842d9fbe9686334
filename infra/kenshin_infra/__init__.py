"""kenshin's AWS build as a CDK app: one stage per environment (see docs/aws.md)."""
