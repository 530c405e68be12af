"""Django's SMTP backend, telling a lost answer after DATA apart from a failed send.

Once the message body and its final "." are on the wire, the server may have accepted it even though
no answer reaches us (a timeout, a dropped connection): retrying blindly sends a second copy. Such a
failure is raised as `DeliveryUncertain`; anything earlier (connect, MAIL, RCPT, DATA refused) or a
refusal after the body (`SMTPDataError`: the server answered) means the message was not accepted.
"""

from __future__ import annotations

import smtplib
from typing import Any

from django.core.mail.backends.smtp import EmailBackend as DjangoEmailBackend

BODY_END = b"\r\n.\r\n"


class DeliveryUncertain(smtplib.SMTPException):
    """The body was sent but the server's answer was lost: the mail may or may not have arrived."""


class _AnswerTracking:
    _body_sent = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self._body_sent = False
        try:
            return super().data(msg)  # type: ignore[misc]
        except smtplib.SMTPResponseException:
            raise  # the server answered (refused): nothing was accepted
        except (OSError, smtplib.SMTPException) as problem:
            if not self._body_sent:
                raise
            self.close()  # type: ignore[attr-defined]  # so QUIT after this cannot mask the outcome
            raise DeliveryUncertain(
                f"the mail server's answer to the message was lost ({type(problem).__name__}: {problem})"
            ) from problem

    def send(self, s: Any) -> None:
        super().send(s)  # type: ignore[misc]
        if isinstance(s, bytes) and s.endswith(BODY_END):
            self._body_sent = True


class _SMTP(_AnswerTracking, smtplib.SMTP):
    pass


class _SMTPSSL(_AnswerTracking, smtplib.SMTP_SSL):
    pass


class EmailBackend(DjangoEmailBackend):
    """settings.MAILERS' SMTP backend (EMAIL_URL=smtp://…): Django's, with DeliveryUncertain."""

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return _SMTPSSL if self.use_ssl else _SMTP
