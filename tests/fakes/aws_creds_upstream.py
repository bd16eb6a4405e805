"""Fake AWS credential issuers, each its own server beside the fake Bedrock.

Three sources of botocore's chain, each speaking the wire format of AWS's public reference:

- the ECS/EKS container credentials endpoint: botocore GETs ``$AWS_CONTAINER_CREDENTIALS_FULL_URI``
  (loopback hosts only) and expects ``{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}``
  (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html);
- STS ``AssumeRoleWithWebIdentity`` (web identity / IRSA): an unsigned ``POST /`` with a form body
  (``Action``, ``Version=2011-06-15``, ``RoleArn``, ``RoleSessionName``, ``WebIdentityToken``),
  answered with the XML ``AssumeRoleWithWebIdentityResponse``; errors are the XML
  ``ErrorResponse`` (400 ``InvalidIdentityToken``, 403 ``AccessDenied``, 400 ``ValidationError``)
  (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html);
- the IAM Identity Center (SSO) portal's ``GetRoleCredentials``: ``GET /federation/credentials
  ?account_id=&role_name=`` with the cached access token in ``x-amz-sso_bearer_token``, answered
  with ``{"roleCredentials": {accessKeyId, secretAccessKey, sessionToken, expiration}}`` where
  ``expiration`` is epoch milliseconds; errors carry ``x-amzn-ErrorType`` (401
  ``UnauthorizedException``, 404 ``ResourceNotFoundException``, 400 ``InvalidRequestException``)
  (https://docs.aws.amazon.com/singlesignon/latest/PortalAPIReference/API_GetRoleCredentials.html).

Every call issues a new temporary key that expires ``ttl`` seconds later and registers it with
the Bedrock fake (the same ``credentials`` dict its signature check reads); at its expiry the key
is replaced by an ``expired:<key>`` marker, so Bedrock answers 403 ``ExpiredTokenException`` to a
gateway that keeps signing with it. A test thus sees which credential signed each request and
that expired ones are replaced under a running gateway.

AWS also stops honouring keys before their stated Expiration (a role's active sessions revoked, an
access key deactivated or rotated): ``revoke`` does that to one key, and an STS started with
``control={"revoke_on_issue": True}`` issues keys Bedrock refuses from the start.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from xml.sax.saxutils import escape

from aiohttp import web

PATH = "/v2/credentials/task-role"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
SSO_PATH = "/federation/credentials"
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")

Credentials = dict[str, tuple[str, str | None]]


def revoke(credentials: Credentials, access: str, how: str = "expired") -> None:
    """Make Bedrock refuse ``access`` now, before its stated Expiration: ``expired`` answers 403
    ExpiredTokenException (a revoked session), ``unknown`` 403 UnrecognizedClientException (a
    deactivated or rotated key)."""
    credentials.pop(access, None)
    if how == "expired":
        credentials["expired:" + access] = ("", None)


def _issue(request: web.Request, credentials: Credentials, ttl: float, kind: str,
           control: dict[str, bool] | None = None) -> tuple[str, str, str, dt.datetime]:
    """A new temporary key of ``kind``, valid for ``ttl`` seconds at Bedrock."""
    fake = request.app["fake"]
    fake.bump(f"{kind}_credentials")
    n = fake.events[f"{kind}_credentials"]
    access, secret, token = f"ASIAFAKE{kind.upper()}{n:03d}", f"{kind}/Secret+{n:03d}EXAMPLE", f"{kind}-session-token-{n:03d}"
    credentials[access] = (secret, token)
    if control and control.get("revoke_on_issue"):
        revoke(credentials, access)

    def expire() -> None:
        credentials.pop(access, None)
        credentials["expired:" + access] = ("", None)

    asyncio.get_running_loop().call_later(ttl, expire)
    return access, secret, token, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl)


def make_app(credentials: Credentials, ttl: float) -> web.Application:
    """The container endpoint. ``credentials``: the dict the Bedrock fake was started with."""
    app = web.Application()

    async def container_credentials(request: web.Request) -> web.Response:
        access, secret, token, expires = _issue(request, credentials, ttl, "container")
        return web.json_response({"RoleArn": "arn:aws:iam::123456789012:role/llmg-task", "AccessKeyId": access,
                                  "SecretAccessKey": secret, "Token": token,
                                  "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})

    app.router.add_get(PATH, container_credentials)
    return app


# --- STS AssumeRoleWithWebIdentity -------------------------------------------------------------


def _sts_error(status: int, code: str, message: str) -> web.Response:
    kind = "Sender" if status < 500 else "Receiver"
    body = (f'<ErrorResponse xmlns="{STS_NS}">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n'
            f"    <Message>{escape(message)}</Message>\n  </Error>\n  <RequestId>{uuid.uuid4()}</RequestId>\n</ErrorResponse>\n")
    return web.Response(status=status, body=body.encode(), content_type="text/xml")


def make_sts_app(credentials: Credentials, ttl: float, role_arn: str, tokens: list[str],
                 control: dict[str, bool] | None = None) -> web.Application:
    """STS for one role: ``tokens`` are the web identity tokens it currently accepts (a test may
    rotate them, as EKS rotates the projected service-account token); ``control``: see ``revoke``."""
    app = web.Application()

    async def sts(request: web.Request) -> web.Response:
        if not request.content_type.startswith("application/x-www-form-urlencoded"):
            return _sts_error(400, "InvalidAction", "Could not find operation for this request")
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        if params.get("Action") != "AssumeRoleWithWebIdentity":
            return _sts_error(400, "InvalidAction", f"Could not find operation {params.get('Action')} for version 2011-06-15")
        if params.get("Version") != "2011-06-15":
            return _sts_error(400, "InvalidAction", "Could not find operation for this version")
        for member in ("RoleArn", "RoleSessionName", "WebIdentityToken"):
            if not params.get(member):
                return _sts_error(400, "ValidationError", f"1 validation error detected: Value null at '{member[0].lower()}{member[1:]}' failed to satisfy constraint: Member must not be null")
        if not _SESSION_NAME.fullmatch(params["RoleSessionName"]):
            return _sts_error(400, "ValidationError", "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
        if params["WebIdentityToken"] not in tokens:
            return _sts_error(400, "InvalidIdentityToken", "The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.")
        if params["RoleArn"] != role_arn:
            return _sts_error(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        access, secret, token, expires = _issue(request, credentials, ttl, "webidentity", control)
        session = escape(params["RoleSessionName"])
        role = role_arn.rsplit("/", 1)[-1]
        body = f"""<AssumeRoleWithWebIdentityResponse xmlns="{STS_NS}">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:llmg:gateway</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/{role}/{session}</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:{session}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>{token}</SessionToken>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <Expiration>{expires.strftime("%Y-%m-%dT%H:%M:%SZ")}</Expiration>
      <AccessKeyId>{access}</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>{uuid.uuid4()}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
"""
        return web.Response(body=body.encode(), content_type="text/xml")

    app.router.add_post("/", sts)
    return app


# --- the SSO portal's GetRoleCredentials ------------------------------------------------------


def _sso_error(status: int, name: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status,
                             headers={"x-amzn-ErrorType": name, "x-amzn-RequestId": str(uuid.uuid4())})


def make_sso_app(credentials: Credentials, ttl: float, access_token: str, account_id: str, role_name: str) -> web.Application:
    """The portal for one SSO session (``access_token``, the token the cache file holds) that may
    use one role of one account."""
    app = web.Application()

    async def role_credentials(request: web.Request) -> web.Response:
        account, role = request.query.get("account_id"), request.query.get("role_name")
        bearer = request.headers.get("x-amz-sso_bearer_token")
        if not account or not role or not bearer:
            return _sso_error(400, "InvalidRequestException", "account_id, role_name and x-amz-sso_bearer_token are required")
        if bearer != access_token:
            return _sso_error(401, "UnauthorizedException", "Session token not found or invalid")
        if (account, role) != (account_id, role_name):
            return _sso_error(404, "ResourceNotFoundException", "No access")
        access, secret, token, expires = _issue(request, credentials, ttl, "sso")
        return web.json_response({"roleCredentials": {
            "accessKeyId": access, "secretAccessKey": secret, "sessionToken": token,
            "expiration": int(expires.timestamp() * 1000)}})

    app.router.add_get(SSO_PATH, role_credentials)
    return app
