"""A fake ECS/EKS container credentials endpoint: its own server beside the fake Bedrock.

botocore's container provider GETs ``$AWS_CONTAINER_CREDENTIALS_FULL_URI`` (loopback hosts only)
and expects ``{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}``
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html). Every call
issues a new temporary key that expires ``ttl`` seconds later and registers it with the Bedrock
fake (the same ``credentials`` dict its signature check reads), so a test sees which credential
signed each request and that expired ones are replaced under a running gateway.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

PATH = "/v2/credentials/task-role"


def make_app(credentials: dict[str, tuple[str, str | None]], ttl: float) -> web.Application:
    """``credentials``: the dict the Bedrock fake was started with (issued keys are added to it)."""
    app = web.Application()

    async def container_credentials(request: web.Request) -> web.Response:
        fake = request.app["fake"]
        fake.bump("container_credentials")
        n = fake.events["container_credentials"]
        access, secret, token = f"ASIAFAKECONTAINER{n:03d}", f"container/Secret+{n:03d}EXAMPLE", f"container-session-token-{n:03d}"
        credentials[access] = (secret, token)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl)
        return web.json_response({"RoleArn": "arn:aws:iam::123456789012:role/llmg-task", "AccessKeyId": access,
                                  "SecretAccessKey": secret, "Token": token,
                                  "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})

    app.router.add_get(PATH, container_credentials)
    return app
