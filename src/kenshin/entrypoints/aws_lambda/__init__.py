"""The handlers of kenshin's AWS Lambda functions (docs/aws.md), one module each."""
