# The Tunggal worker and tools, for docker-compose.yml (no Docker engine runs on the dev machines;
# tests/unit/test_compose.py checks this deployment agrees with the code's defaults).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
RUN pip install --no-cache-dir -e .
ENTRYPOINT ["tunggal"]
CMD ["--help"]
