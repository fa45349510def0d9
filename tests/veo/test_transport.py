"""A failed call to Veo reads as a sentence; the exception's own text goes to the log only."""

import pytest
import requests
import responses
from urllib3.exceptions import ProtocolError

from jobs.veo import transport
from jobs.veo.base import SubmitOutcomeUnknown, VeoError
from jobs.veo.gemini import GeminiProvider

URL = "https://generativelanguage.googleapis.com/v1beta/models/veo:predictLongRunning"
POLL = "https://generativelanguage.googleapis.com/v1beta/models/veo/operations/op1"
RAW = "('Connection aborted.', RemoteDisconnected('Remote end closed connection'))"


def submit():
    return transport.send_submit(
        requests.Session(), URL, body={}, headers={}, timeout=5, credential="GEMINI_API_KEY"
    )


def poll():
    return transport.send_poll(
        requests.Session(), "GET", POLL, headers={}, timeout=5, credential="GEMINI_API_KEY"
    )


@responses.activate
def test_a_submit_cut_off_after_sending_says_so_in_plain_words(caplog):
    responses.post(URL, body=requests.ConnectionError(ProtocolError(RAW)))
    with pytest.raises(SubmitOutcomeUnknown) as caught:
        submit()
    message = caught.value.message
    assert "the connection broke before Veo answered" in message
    assert "Error" not in message and "RemoteDisconnected" not in message
    assert "RemoteDisconnected" in caplog.text


@responses.activate
def test_a_poll_that_loses_contact_says_so_in_plain_words(caplog):
    responses.get(POLL, body=requests.ReadTimeout("HTTPSConnectionPool: Read timed out."))
    with pytest.raises(VeoError) as caught:
        poll()
    assert caught.value.retryable
    assert caught.value.message == (
        "Lost contact with Veo while checking progress: Veo did not answer in time."
    )
    assert "Read timed out" in caplog.text


@responses.activate
def test_an_unreachable_api_is_named_without_the_exception_class(caplog):
    base = "https://generativelanguage.googleapis.com"
    responses.get(f"{base}/v1beta/models", body=requests.ConnectionError(RAW))
    with pytest.raises(VeoError) as caught:
        GeminiProvider(api_key="k").reachable_models(["veo"])
    assert caught.value.message == f"Could not reach {base}: could not connect to it."
    assert "RemoteDisconnected" in caplog.text


ELSEWHERE = "https://elsewhere.example/v1beta/models/veo/operations/op1"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@responses.activate
def test_an_api_answer_that_redirects_is_not_followed_and_the_key_goes_nowhere_else(status):
    session = transport.new_session()
    headers = {"x-goog-api-key": "the-key"}
    responses.get(POLL, status=status, headers={"Location": ELSEWHERE})
    responses.post(URL, status=status, headers={"Location": ELSEWHERE})
    responses.get(ELSEWHERE, json={"name": "op1", "done": False})
    responses.post(ELSEWHERE, json={"name": "op1"})
    for call in (
        lambda: transport.send_poll(
            session, "GET", POLL, headers=headers, timeout=5, credential="GEMINI_API_KEY"
        ),
        lambda: transport.send_submit(
            session, URL, body={}, headers=headers, timeout=5, credential="GEMINI_API_KEY"
        ),
    ):
        with pytest.raises(VeoError) as raised:
            call()
        assert not isinstance(raised.value, SubmitOutcomeUnknown)
        assert not raised.value.retryable
        assert f"answered with a redirect ({status}), which the studio does not follow" in (
            raised.value.message
        )
    assert [call.request.url for call in responses.calls] == [POLL, URL]
    # Even a caller asking to follow is not followed.
    assert session.get(POLL, headers=headers, allow_redirects=True).status_code == status
