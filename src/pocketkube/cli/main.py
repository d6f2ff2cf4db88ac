"""Entry point of the ``pocketkube`` command."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from pocketkube.storage.factory import EtcdTLS

DEFAULT_DATA_DIR = Path.home() / ".pocketkube"


@click.group()
@click.version_option(package_name="pocketkube")
@click.option("-v", "--verbose", is_flag=True, help="Log at debug level.")
def main(verbose: bool) -> None:
    """pocketkube: Kubernetes, written in Python."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Where the cluster keeps its state (created 0700).",
)
@click.option(
    "--datastore-endpoint",
    default="",
    help="sqlite://PATH (default: DATA_DIR/db/state.db), etcd://HOST:PORT[,HOST:PORT], "
    "etcds://... for TLS, or memory://.",
)
@click.option("--datastore-cafile", default=None, help="CA bundle for an etcd endpoint.")
@click.option("--datastore-certfile", default=None, help="Client certificate for etcd.")
@click.option("--datastore-keyfile", default=None, help="Client key for etcd.")
def server(
    data_dir: Path,
    datastore_endpoint: str,
    datastore_cafile: str | None,
    datastore_certfile: str | None,
    datastore_keyfile: str | None,
) -> None:
    """Run the whole control plane in one process."""
    from pocketkube.cli.server import run_server

    tls = EtcdTLS(
        ca_file=datastore_cafile, cert_file=datastore_certfile, key_file=datastore_keyfile
    )
    try:
        asyncio.run(
            run_server(data_dir=data_dir.absolute(), datastore_endpoint=datastore_endpoint, tls=tls)
        )
    except ValueError as err:
        raise click.UsageError(str(err)) from None
