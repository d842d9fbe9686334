"""kenshin's AWS Lambda functions (docs/aws.md), one module each, whose ``handler`` the
stack names: ``ingest`` (the units' messages from the SQS queue), ``export`` (the
scheduled export), ``watch`` (the alert rules), ``report`` (the daily data-quality
report) and ``identity`` (Transfer Family's logins). Each builds kenshin's App once per
cold start and leaves the work to the services."""
