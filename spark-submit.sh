#!/usr/bin/env bash
# Submit a synthlib job to any Spark master (local, standalone, YARN, Kubernetes) with Delta.
#
#   ./spark-submit.sh <command> --conf conf/<file>.yaml [--master URL] [key=value ...] [-- spark-submit options]
#
# Ships the synthlib package (a zip on --py-files) and the conf file (--files). Executors
# need numpy, pandas, pyarrow, PyYAML and pydantic: on a cluster, ship an environment with
# `-- --archives env.tar.gz#env` and PYSPARK_PYTHON=./env/bin/python (see README).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() { sed -n '4p' "$0" | sed 's/^# *//' >&2; exit 2; }
[ $# -ge 1 ] || usage
command=$1; shift
case "$command" in simulate|profile|train|generate|evaluate|pipeline) ;; *) usage ;; esac

master=${SPARK_MASTER:-local[2]}; conf=""; deploy_mode=client; overrides=(); extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --conf) conf=$2; shift 2 ;;
    --master) master=$2; shift 2 ;;
    --deploy-mode) deploy_mode=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) overrides+=("$1"); shift ;;
  esac
done
[ -n "$conf" ] || { echo "spark-submit.sh: --conf FILE is required" >&2; usage; }
[ -f "$conf" ] || { echo "spark-submit.sh: conf file '$conf' not found" >&2; exit 2; }

if [ -x "$here/.venv/bin/python" ]; then
  export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$here/.venv/bin/python}
fi
export PYSPARK_DRIVER_PYTHON=${PYSPARK_DRIVER_PYTHON:-${PYSPARK_PYTHON:-python3}}
if [ -n "${SPARK_HOME:-}" ]; then submit=$SPARK_HOME/bin/spark-submit
elif [ -x "$here/.venv/bin/spark-submit" ]; then submit=$here/.venv/bin/spark-submit
else submit=spark-submit; fi

# Package the library fresh for every submission.
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
(cd "$here" && "$PYSPARK_DRIVER_PYTHON" -c "
import sys, zipfile, pathlib
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    for p in sorted(pathlib.Path('synthlib').rglob('*.py')):
        z.write(p)" "$build/synthlib.zip")

# Delta: the JARs set-up placed in .venv (shipped with --jars, no resolution), else from Maven.
jars=$(ls "$here"/.venv/share/synthlib/jars/*.jar 2>/dev/null | paste -sd, - || true)
if [ -n "$jars" ]; then delta=(--jars "$jars"); else delta=(--packages io.delta:delta-spark_2.13:4.0.1); fi

# Spark's own logging at ERROR (WARN with --verbose), as in local runs; a cluster-mode driver
# keeps the cluster's logging.
level=ERROR
for o in ${overrides[@]+"${overrides[@]}"}; do [ "$o" = --verbose ] && level=WARN; done
logging=()
[ "$deploy_mode" = client ] && logging=(--driver-java-options
  "-Dlog4j2.configurationFile=file:$here/synthlib/log4j2.properties -Dsynthlib.log.level=$level")

# In cluster mode the driver finds the conf file shipped by --files in its working dir.
job_conf=$conf
[ "$deploy_mode" = cluster ] && job_conf=$(basename "$conf")

exec "$submit" \
  --master "$master" --deploy-mode "$deploy_mode" --name "synthlib-$command" \
  "${delta[@]}" ${logging[@]+"${logging[@]}"} \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.sql.session.timeZone=UTC \
  --conf spark.pyspark.python="${PYSPARK_PYTHON:-python3}" \
  --py-files "$build/synthlib.zip" --files "$conf" \
  ${extra[@]+"${extra[@]}"} \
  "$here/jobs/$command.py" --conf "$job_conf" ${overrides[@]+"${overrides[@]}"}
