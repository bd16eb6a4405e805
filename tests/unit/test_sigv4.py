"""SigV4: AWS's published test-suite vectors, Bedrock-style paths, and botocore as an oracle.

Vectors: AWS Signature Version 4 test suite
(https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html): credentials
AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service "service",
date 20150830T123600Z. The expected Authorization values below are the suite's published ones.
"""

from __future__ import annotations

import pytest

from llmg import sigv4

ACCESS = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DATE = "20150830T123600Z"
HOST = "example.amazonaws.com"
CRED = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
STS_TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuw"
    "thAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQc"
    "HNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/o"
    "LxBA=="
)

# (name, method, path as sent, query pairs, extra headers, body, session token, expected tail)
VECTORS = [
    ("get-vanilla", "GET", "/", [], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-vanilla-query", "GET", "/", [], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-vanilla-query-order-key-case", "GET", "/", [("Param2", "value2"), ("Param1", "value1")], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ("get-vanilla-empty-query-key", "GET", "/", [("Param1", "value1")], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
    ("get-vanilla-query-unreserved", "GET", "/",
     [("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
    ("get-vanilla-utf8-query", "GET", "/", [("\u1234", "bar")], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    ("get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", [], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    ("get-utf8", "GET", "/\u1234", [], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ("get-header-value-trim", "GET", "/", [], {"My-Header1": " value1", "My-Header2": ' "a   b   c"'}, b"", None,
     "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
     "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    ("get-header-value-order", "GET", "/", [], {"My-Header1": "value4,value1,value3,value2"}, b"", None,
     "SignedHeaders=host;my-header1;x-amz-date, Signature=08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
    ("post-vanilla", "POST", "/", [], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("post-vanilla-query", "POST", "/", [("Param1", "value1")], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    ("post-vanilla-query-nonunreserved", "POST", "/", [("@#$%^", ""), ("+", '/,?><`";:\\|][{}')], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"),
    ("post-vanilla-query-space", "POST", "/", [("p", "")], {}, b"", None,
     "SignedHeaders=host;x-amz-date, Signature=e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b"),
    ("post-header-key-sort", "POST", "/", [], {"My-Header1": "value1"}, b"", None,
     "SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
    ("post-header-value-case", "POST", "/", [], {"My-Header1": "VALUE1"}, b"", None,
     "SignedHeaders=host;my-header1;x-amz-date, Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
    ("post-sts-header-before", "POST", "/", [], {}, b"", STS_TOKEN,
     "SignedHeaders=host;x-amz-date;x-amz-security-token, "
     "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"),
    ("post-x-www-form-urlencoded", "POST", "/", [], {"Content-Type": "application/x-www-form-urlencoded"},
     b"Param1=value1", None,
     "SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
    ("post-x-www-form-urlencoded-parameters", "POST", "/", [],
     {"Content-Type": "application/x-www-form-urlencoded; charset=utf8"}, b"Param1=value1", None,
     "SignedHeaders=content-type;host;x-amz-date, Signature=1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"),
]


@pytest.mark.parametrize("name,method,path,query,headers,body,token,expected", VECTORS, ids=[v[0] for v in VECTORS])
def test_aws_test_suite_vector(name, method, path, query, headers, body, token, expected):
    signer = sigv4.Signer(ACCESS, SECRET, "us-east-1", "service", token, content_sha256_header=False)
    signed = signer.sign(method, HOST, path, body, query=query, headers=headers, amz_date=DATE)
    assert signed["authorization"] == CRED + expected
    if token:
        assert signed["x-amz-security-token"] == token


def test_published_canonical_request_and_string_to_sign_for_get_vanilla():
    creq, signed = sigv4.canonical_request("GET", "/", [], {"Host": HOST, "X-Amz-Date": DATE}, sigv4.EMPTY_SHA256)
    assert creq == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    sts = sigv4.string_to_sign(DATE, "20150830/us-east-1/service/aws4_request", creq)
    assert sts.endswith("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63")


def test_iam_documentation_example_signing_key():
    # The derived key from AWS's "Examples of how to derive a signing key" (IAM, 20120215, us-east-1).
    key = sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_bedrock_paths_are_encoded_twice():
    # What AWS answered to a mis-signed request (quoted in BerriAI/litellm#14763): the canonical
    # path for model `...-v1:0` sent as `...-v1%3A0` is `...-v1%253A0`.
    sent = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream"
    assert sigv4.canonical_uri(sent) == "/model/us.anthropic.claude-sonnet-4-20250514-v1%253A0/converse-stream"
    # A raw ':' (what our transports put on the wire) is encoded once, as the server does.
    assert sigv4.canonical_uri("/model/a.b-v1:0/converse") == "/model/a.b-v1%3A0/converse"
    assert sigv4.canonical_uri("/model/arn%2Fx/converse") == "/model/arn%252Fx/converse"


def test_signing_key_is_cached_per_day_and_changes_with_the_date():
    signer = sigv4.Signer(ACCESS, SECRET, "us-east-1", "bedrock")
    a = signer.sign("POST", "h", "/x", b"{}", amz_date="20240101T000000Z")["authorization"]
    key_day1 = signer._key
    b = signer.sign("POST", "h", "/x", b"{}", amz_date="20240101T235959Z")["authorization"]
    assert signer._key is key_day1 and a != b
    signer.sign("POST", "h", "/x", b"{}", amz_date="20240102T000000Z")
    assert signer._key != key_day1


def test_content_sha256_and_token_headers_are_signed():
    signer = sigv4.Signer(ACCESS, SECRET, "eu-west-3", "bedrock", "tok")
    signed = signer.sign("POST", "bedrock-runtime.eu-west-3.amazonaws.com", "/model/m/converse", b'{"a":1}',
                         headers={"Content-Type": "application/json"}, amz_date=DATE)
    assert "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token," in signed["authorization"]
    assert signed["x-amz-content-sha256"] == "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
    assert "/20150830/eu-west-3/bedrock/aws4_request" in signed["authorization"]


# Only the oracle checks need botocore: AWS's published vectors above run without it.
try:
    import botocore  # noqa: F401
except ImportError:
    botocore = None
needs_botocore = pytest.mark.skipif(botocore is None, reason="botocore is the independent oracle for these checks")


@pytest.mark.parametrize(
    "model",
    ["anthropic.claude-3-5-sonnet-20240620-v1:0", "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
     "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0"],
)
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEXAMPLE//token+/="])
@needs_botocore
def test_matches_botocore_for_bedrock_requests(model, token):
    from urllib.parse import quote

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    host = "bedrock-runtime.us-west-2.amazonaws.com"
    path = f"/model/{quote(model, safe=':@+')}/converse"
    body = b'{"messages":[{"role":"user","content":[{"text":"Hello \xc3\xa9"}]}]}'
    ours = sigv4.Signer("AKIAEXAMPLE", "secret/EXAMPLE+key", "us-west-2", "bedrock", token)
    mine = ours.sign("POST", host, path, body, headers={"content-type": "application/json"})
    request = AWSRequest(
        method="POST",
        url=f"https://{host}{path}",
        data=body,
        headers={"Content-Type": "application/json", "X-Amz-Content-SHA256": mine["x-amz-content-sha256"]},
    )
    request.context["timestamp"] = mine["x-amz-date"]
    auth = SigV4Auth(Credentials("AKIAEXAMPLE", "secret/EXAMPLE+key", token), "bedrock", "us-west-2")
    auth._modify_request_before_signing(request)
    theirs = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    assert mine["authorization"].endswith(f"Signature={theirs}")
