# Reads a NoCloud seed and consumes it with cloud-init's own code (the
# cloud-init .deb unpacked by test/helpers/cloud-init.ts, on PYTHONPATH), as
# the init and final stages of a first boot do, into a scratch directory
# instead of /var/lib/cloud:
#   util.read_seeded(<url>)  (DataSourceNoCloudNet's reader) — or the seed as
#                            JSON on stdin {"md", "ud", "vd"} when no url
#   Init.consume_data()      user-data, then vendor-data (unless disabled)
#   ConfigMerger             the config the modules then see
# Prints JSON: the merged config, the scripts written per kind, the raw data.
#
# usage: python3 cloud-init-seed.py <system cloud.cfg> <scratch dir> [seed url]
import json
import os
import sys

from cloudinit import helpers, stages, util
from cloudinit.settings import PER_INSTANCE
from cloudinit.sources.DataSourceNoCloud import DataSourceNoCloudNet

system_cfg, scratch = sys.argv[1], os.path.abspath(sys.argv[2])
url = sys.argv[3] if len(sys.argv) > 3 else None

base = util.mergemanydict([util.read_conf_with_confd(system_cfg), util.get_builtin_cfg()])
base.setdefault("system_info", {})["paths"] = {
    "cloud_dir": os.path.join(scratch, "cloud"),
    "run_dir": os.path.join(scratch, "run"),
    "templates_dir": os.path.join(scratch, "templates"),
}
stages.fetch_base_config = lambda **_kw: base

if url:
    md, ud, vd = util.read_seeded(base=url, timeout=5, retries=2)
else:
    seed = json.load(sys.stdin)
    md, ud, vd = seed["md"], seed["ud"].encode(), seed["vd"].encode()

init = stages.Init(ds_deps=[])
ds = DataSourceNoCloudNet(init.cfg, None, init.paths)
ds.metadata = md
ds.userdata_raw = ud
ds.vendordata_raw = vd
init.datasource = ds
init._reset()  # as _get_data_source does: paths and config now know the datasource
util.ensure_dirs(init._initial_subdirs())  # what initialize() makes, without its log file
init.instancify()
init.update()
init.consume_data(PER_INSTANCE)

merged = helpers.ConfigMerger(paths=init.paths, datasource=ds, additional_fns=[], base_cfg=base).cfg


def scripts(kind):
    d = init.paths.get_ipath_cur(kind)
    if not d or not os.path.isdir(d):
        return {}
    return {n: util.load_file(os.path.join(d, n)) for n in sorted(os.listdir(d)) if os.path.isfile(os.path.join(d, n))}


print(
    json.dumps(
        {
            "metadata": md,
            "userdata": (ud or b"").decode(),
            "vendordata": (vd or b"").decode() if isinstance(vd, bytes) else (vd or ""),
            "cfg": {k: merged.get(k) for k in ("preserve_hostname", "manage_etc_hosts", "growpart", "resize_rootfs", "ssh_pwauth", "runcmd", "write_files", "hostname", "vendor_data")},
            "userScripts": scripts("scripts"),
            "vendorScripts": scripts("vendor_scripts"),
            "localHostname": ds.get_hostname().hostname if hasattr(ds.get_hostname(), "hostname") else ds.get_hostname(),
            "instanceId": ds.get_instance_id(),
            "publicKeys": ds.get_public_ssh_keys(),
        },
        default=str,
    )
)
