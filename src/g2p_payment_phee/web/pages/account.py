"""The signed-in user's password and personal API tokens (a new token is shown once) and, for
admins, the users of the installation (with a password reset)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from g2p_payment_phee.errors import Conflict, FieldError, ValidationFailed, WrongPassword
from g2p_payment_phee.i18n import _
from g2p_payment_phee.users import service as users
from g2p_payment_phee.users.auth import (
    change_own_password,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
    session_user,
)
from g2p_payment_phee.users.models import Role
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.deps import SESSION_COOKIE, DbSession, client_ip
from g2p_payment_phee.web.pages.access import Acting, SignedIn, Visitor
from g2p_payment_phee.web.pages.forms import choice, field_errors, path_id
from g2p_payment_phee.web.pages.rendering import redirect, render

router = APIRouter()


def _tokens_page(
    request: Request,
    session: DbSession,
    visitor: Visitor,
    *,
    new_token: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    context = {
        "tokens": list_api_tokens(session, visitor.user),
        "new_token": new_token,
        "error": error,
    }
    return render(request, "account/tokens.html", context, status_code=status)


@router.get("/account/tokens")
def tokens(request: Request, session: DbSession, visitor: SignedIn) -> Response:
    """The user's API tokens (never their values)."""
    return _tokens_page(request, session, visitor)


@router.post("/account/tokens")
def create_token(
    request: Request, session: DbSession, visitor: Acting, name: str = Form("")
) -> Response:
    """A new token, shown on this answer only (it is stored hashed)."""
    try:
        created = create_api_token(session, visitor.user, name)
    except ValidationFailed as error:
        session.rollback()
        return _tokens_page(request, session, visitor, error=error.message, status=422)
    return _tokens_page(request, session, visitor, new_token=created.token)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(request: Request, session: DbSession, visitor: Acting, token_id: str) -> Response:
    """Revoke one of the user's tokens."""
    row = revoke_api_token(session, visitor.user, path_id(token_id, "API token"))
    return redirect("/account/tokens", _("Token {name} revoked.").format(name=row.name))


@router.get("/account/password")
def password_form(request: Request, visitor: SignedIn) -> Response:
    """The form to change one's own password."""
    return render(request, "account/password.html", {"error": ""})


@router.post("/account/password")
def change_password(
    request: Request,
    session: DbSession,
    visitor: Acting,
    current: str = Form(""),
    new: str = Form(""),
    confirm: str = Form(""),
) -> Response:
    """Change one's own password; the other web sessions of the user end, this one stays."""
    try:
        if new != confirm:
            raise ValidationFailed(_("the new password and its confirmation differ"))
        here = session_user(session, request.cookies.get(SESSION_COOKIE, ""))
        change_own_password(
            session,
            visitor.user,
            current=current,
            new=new,
            client_ip=client_ip(request),
            keep_web_session=here.id,
        )
    except ValidationFailed as error:
        if isinstance(error, WrongPassword):
            session.commit()  # the failed attempt counts towards the sign-in throttle
        else:
            session.rollback()
        context = {"error": error.message}
        return render(request, "account/password.html", context, status_code=422)
    return redirect("/account/password", _("Your password is changed."))


def _users_page(
    request: Request,
    session: DbSession,
    visitor: Visitor,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    visitor.require(Permission.MANAGE_USERS)
    context = {
        "users": users.list_users(session, visitor.user),
        "roles": list(Role),
        "values": values or {},
        "errors": errors or {},
    }
    return render(request, "account/users.html", context, status_code=status)


@router.get("/users")
def user_list(request: Request, session: DbSession, visitor: SignedIn) -> Response:
    """Every user (admins only), with the form to add one."""
    return _users_page(request, session, visitor)


@router.post("/users")
def create_user(
    request: Request,
    session: DbSession,
    visitor: Acting,
    username: str = Form(""),
    full_name: str = Form(""),
    role: str = Form(""),
    password: str = Form(""),
) -> Response:
    """A new user with a role; the password is set by the admin and never shown again."""
    user = visitor.require(Permission.MANAGE_USERS)
    values = {"username": username, "full_name": full_name, "role": role}
    try:
        chosen = choice(Role, role, "role")
        if chosen is None:  # the name and the password are checked too: every error at once
            problems = users.new_user_problems(username, password)
            raise ValidationFailed(
                _("choose a role"), [*problems, FieldError("role", _("choose a role"))]
            )
        created = users.create_user(
            session, user, username=username, password=password, role=chosen, full_name=full_name
        )
    except (ValidationFailed, Conflict) as error:
        session.rollback()
        errors = field_errors(error) if isinstance(error, ValidationFailed) else {}
        if not errors:
            text = error.message
            name = "password" if "password" in text else "role" if "role" in text else "username"
            errors = {name: text}
        return _users_page(request, session, visitor, values, errors, 422)
    return redirect("/users", _("User {username} created.").format(username=created.username))


@router.post("/users/{username}/password")
def reset_password(
    request: Request, session: DbSession, visitor: Acting, username: str, password: str = Form("")
) -> Response:
    """An admin sets a new password for a user; that user's web sessions end."""
    user = visitor.require(Permission.MANAGE_USERS)
    try:
        target = users.reset_password(session, user, username, password)
    except ValidationFailed as error:
        session.rollback()
        errors = {"reset": f"{username}: {error.message}"}
        return _users_page(request, session, visitor, errors=errors, status=422)
    return redirect(
        "/users",
        _("Password of {username} reset; their web sessions ended.").format(
            username=target.username
        ),
    )


@router.post("/users/{username}/{change}")
def set_active(
    request: Request, session: DbSession, visitor: Acting, username: str, change: str
) -> Response:
    """Disable or enable a user (an admin cannot disable themself)."""
    user = visitor.require(Permission.MANAGE_USERS)
    if change not in {"disable", "enable"}:
        from g2p_payment_phee.errors import NotFound

        raise NotFound(_("there is no such page"))
    try:
        target = users.set_active(session, user, username, active=change == "enable")
    except ValidationFailed as error:
        session.rollback()
        return _users_page(request, session, visitor, errors={"list": error.message}, status=422)
    return redirect(
        "/users",
        (
            _("User {username} enabled.") if change == "enable" else _("User {username} disabled.")
        ).format(username=target.username),
    )
