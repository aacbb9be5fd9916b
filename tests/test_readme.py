"""The README leads with the two commands and its demo logins are the real ones."""

from __future__ import annotations

import re

from config import BASE_DIR
from referral.demo import logins


def test_readme_shows_the_two_commands_first() -> None:
    text = (BASE_DIR / "README.md").read_text()
    first_block = text.split("```", 2)[1]
    assert "make run" in first_block and "make test" in first_block


def test_readme_demo_logins_match_the_seed() -> None:
    text = (BASE_DIR / "README.md").read_text()
    listed = dict(re.findall(r"^\| `([a-z.]+)` \| `([a-z0-9-]+)` \|", text, flags=re.MULTILINE))
    assert len(listed) >= 6
    real = {login.username: login.password for login in logins()}
    for username, password in listed.items():
        assert real[username] == password, username
