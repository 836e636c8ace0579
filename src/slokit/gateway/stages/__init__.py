"""The gateway's stages, one lever each; :mod:`slokit.gateway.pipeline` composes them."""
