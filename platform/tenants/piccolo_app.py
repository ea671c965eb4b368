"""Bureaus, organisations (the tenants), staff, memberships, intake links, staff sessions."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from tenants.tables import (
    Bureau,
    CounsellorCredential,
    ExternalAuthority,
    IntakeLink,
    Membership,
    OidcLogin,
    OidcProvider,
    Organisation,
    OrganisationKey,
    ProcedureTemplate,
    ProcedureText,
    StaffRecoveryCode,
    StaffSession,
    StaffToken,
    StaffTotp,
    StaffUser,
)

APP_CONFIG = AppConfig(
    app_name="tenants",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[
        Bureau,
        Organisation,
        StaffUser,
        Membership,
        IntakeLink,
        StaffSession,
        StaffTotp,
        StaffRecoveryCode,
        StaffToken,
        OidcProvider,
        OidcLogin,
        ExternalAuthority,
        ProcedureTemplate,
        ProcedureText,
        CounsellorCredential,
        OrganisationKey,
    ],
    migration_dependencies=["klankbord.piccolo_app"],
    commands=[],
)
