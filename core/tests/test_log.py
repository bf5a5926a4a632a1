"""wishbone.log: levels in any case, one secret mask for everything shown, log files reopened by name."""

from __future__ import annotations

import logging

import pytest
from wishbone import log


def test_mask_hides_secret_names_and_url_passwords_and_leaves_the_rest():
    params = {
        "url": "amqp://guest:hunter2@127.0.0.1:5672/%2F",
        "password": "hunter2",
        "db_pass": "x",
        "api_key": "k",
        "headers": {"Authorization": "Bearer t", "Accept": "json"},
        "urls": ["redis://:pw@h:6379/0", "http://h/no-credentials", "amqp://u:pre@s3cret@h:5672/v"],
        "token": None,
        "passthrough": "kept",
        "port": 5672,
    }
    shown = log.mask(params)
    assert shown == {
        "url": "amqp://guest:****@127.0.0.1:5672/%2F",
        "password": "****",
        "db_pass": "****",
        "api_key": "****",
        "headers": {"Authorization": "****", "Accept": "json"},
        "urls": ["redis://:****@h:6379/0", "http://h/no-credentials", "amqp://u:****@h:5672/v"],
        "token": None,  # nothing to hide
        "passthrough": "kept",
        "port": 5672,
    }
    assert params["password"] == "hunter2"  # the original is not changed
    assert "hunter2" not in repr(shown)


def test_configure_takes_a_level_in_any_case(tmp_path):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        log.configure("DEBUG", filename=str(tmp_path / "a.log"))
        assert root.level == logging.DEBUG
        with pytest.raises(ValueError, match="unknown log level 'loud'"):
            log.configure("loud")
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)


def test_reopen_writes_to_a_new_file_after_the_old_one_was_moved(tmp_path):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    path = tmp_path / "w.log"
    try:
        log.configure("info", filename=str(path))
        logger = log.source_logger("Test")
        logger.info("before")
        path.rename(tmp_path / "w.log.1")  # what logrotate does
        logger.info("still the old file")
        assert log.reopen() == [str(path)]
        logger.info("after")
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
    assert "still the old file" in (tmp_path / "w.log.1").read_text()
    assert "after" in path.read_text() and "before" not in path.read_text()


def test_a_url_password_with_a_raw_at_sign_or_slash_is_masked_whole():
    from wishbone.log import mask

    assert mask("redis://user:p@ss@h:1/0") == "redis://user:****@h:1/0"
    assert mask("rediss://u:x/y@h/0") == "rediss://u:****@h/0"
    assert mask("a amqp://u:p@h/ and http://x:y@z/ b") == "a amqp://u:****@h/ and http://x:****@z/ b"
    assert mask("see http://host/path?a=b:c@d") == "see http://host/path?a=b:c@d"  # no credentials
