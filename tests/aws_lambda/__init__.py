"""kenshin's Lambda functions on moto: the handlers, the ses channel and the settings of
kenshin on AWS."""
