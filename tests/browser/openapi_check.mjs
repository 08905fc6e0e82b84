// Checks the web page's own API calls against /api/v1/openapi.json: the path and method exist,
// every query parameter is declared (with its type), the request body and the JSON answer fit
// their schemas, and the answer's status is documented. A small validator for the subset of
// JSON Schema the document uses ($ref, type, nullable, properties, required,
// additionalProperties, items, enum, minimum, maximum).

function resolve(doc, schema) {
    while (schema && schema.$ref) {
        const parts = schema.$ref.replace(/^#\//, '').split('/');
        schema = parts.reduce((node, p) => node[p], doc);
    }
    return schema;
}

export function validate(doc, schema, value, where = '$') {
    schema = resolve(doc, schema);
    if (!schema) {
        return [];
    }
    if (value === null) {
        return schema.nullable || schema.type === undefined ? [] : [`${where}: null but not nullable`];
    }
    const errors = [];
    const type = Array.isArray(value) ? 'array' : typeof value;
    switch (schema.type) {
    case 'object':
        if (type !== 'object') {
            return [`${where}: ${type}, expected an object`];
        }
        break;
    case 'array':
        if (type !== 'array') {
            return [`${where}: ${type}, expected an array`];
        }
        break;
    case 'string':
        if (type !== 'string') {
            return [`${where}: ${type}, expected a string`];
        }
        break;
    case 'integer':
        if (!Number.isInteger(value)) {
            return [`${where}: ${JSON.stringify(value)}, expected an integer`];
        }
        break;
    case 'number':
        if (type !== 'number') {
            return [`${where}: ${type}, expected a number`];
        }
        break;
    case 'boolean':
        if (type !== 'boolean') {
            return [`${where}: ${type}, expected a boolean`];
        }
        break;
    default:
        break;
    }
    if (schema.enum && !schema.enum.includes(value)) {
        errors.push(`${where}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`);
    }
    if (schema.minimum !== undefined && value < schema.minimum) {
        errors.push(`${where}: ${value} < ${schema.minimum}`);
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
        errors.push(`${where}: ${value} > ${schema.maximum}`);
    }
    if (type === 'object') {
        const props = schema.properties || {};
        for (const r of schema.required || []) {
            if (!(r in value)) {
                errors.push(`${where}: '${r}' is required`);
            }
        }
        for (const [k, v] of Object.entries(value)) {
            if (props[k]) {
                errors.push(...validate(doc, props[k], v, `${where}.${k}`));
            } else if (schema.additionalProperties === false) {
                errors.push(`${where}: '${k}' is not allowed`);
            }
        }
    }
    if (type === 'array' && schema.items) {
        value.forEach((v, i) => errors.push(...validate(doc, schema.items, v, `${where}[${i}]`)));
    }
    return errors;
}

function templates(doc) {
    return Object.entries(doc.paths).map(([template, item]) => {
        const pattern = template.split(/\{[^}]+\}/)
            .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+');
        return { template, item, re: new RegExp(`^${pattern}$`) };
    });
}

// The problems of one recorded call ({method, url, requestBody, status, contentType, body});
// empty when it fits the document.
export function checkCall(doc, call) {
    const url = new URL(call.url);
    const what = `${call.method} ${url.pathname}${url.search}`;
    const found = templates(doc).find((t) => t.re.test(url.pathname));
    if (!found) {
        return [`${what}: no such path in the document`];
    }
    const op = found.item[call.method.toLowerCase()];
    if (!op) {
        return [`${what}: ${call.method} is not documented for ${found.template}`];
    }
    const problems = [];
    const params = [...(found.item.parameters || []), ...(op.parameters || [])]
        .filter((p) => p.in === 'query');
    for (const [k, v] of url.searchParams) {
        const p = params.find((x) => x.name === k);
        if (!p) {
            problems.push(`${what}: query parameter '${k}' is not documented`);
            continue;
        }
        const t = p.schema && p.schema.type;
        if ((t === 'integer' && !/^-?\d+$/.test(v)) || (t === 'boolean' && !/^(true|false)$/.test(v))) {
            problems.push(`${what}: query parameter '${k}'=${v} is not a ${t}`);
        }
    }
    if (call.requestBody) {
        const schema = op.requestBody && op.requestBody.content
            && op.requestBody.content['application/json'] && op.requestBody.content['application/json'].schema;
        if (!schema) {
            problems.push(`${what}: sends a body the document does not describe`);
        } else {
            problems.push(...validate(doc, schema, JSON.parse(call.requestBody), 'request')
                .map((e) => `${what}: ${e}`));
        }
    }
    const response = op.responses[String(call.status)] || op.responses.default;
    if (!response) {
        problems.push(`${what}: status ${call.status} is not documented`);
    } else if (call.body && call.contentType.startsWith('application/json')) {
        const schema = response.content && response.content['application/json']
            && response.content['application/json'].schema;
        if (schema) {
            problems.push(...validate(doc, schema, JSON.parse(call.body), 'response')
                .map((e) => `${what} -> ${call.status}: ${e}`));
        }
    }
    return problems;
}
