package issuer

// The OpenAPI 3.1 objects the issuer's description is made of: only the
// members it uses, each named and shaped as in the specification
// (https://spec.openapis.org/oas/v3.1.1), so that encoding/json writes the
// document. Maps are written with their keys sorted, which keeps the
// document byte for byte the same for the same configuration.

type apiDocument struct {
	OpenAPI    string                  `json:"openapi"`
	Info       apiInfo                 `json:"info"`
	Servers    []apiServer             `json:"servers"`
	Paths      map[string]*apiPathItem `json:"paths"`
	Components apiComponents           `json:"components"`
}

type apiInfo struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Version     string `json:"version"`
}

type apiServer struct {
	URL string `json:"url"`
}

type apiPathItem struct {
	Parameters []*apiParameter `json:"parameters,omitempty"`
	Get        *apiOperation   `json:"get,omitempty"`
	Head       *apiOperation   `json:"head,omitempty"`
	Post       *apiOperation   `json:"post,omitempty"`
	Put        *apiOperation   `json:"put,omitempty"`
	Delete     *apiOperation   `json:"delete,omitempty"`
}

type apiOperation struct {
	OperationID string `json:"operationId"`
	Summary     string `json:"summary"`
	Description string `json:"description,omitempty"`
	// Security lists alternatives; an empty requirement among them makes
	// the others optional. Nil: none (there is no document-wide one).
	Security    []apiRequirement        `json:"security,omitempty"`
	Parameters  []*apiParameter         `json:"parameters,omitempty"`
	RequestBody *apiRequestBody         `json:"requestBody,omitempty"`
	Responses   map[string]*apiResponse `json:"responses"`
}

// apiRequirement maps a security scheme's name to its scopes (none for
// HTTP schemes).
type apiRequirement map[string][]string

type apiParameter struct {
	Name        string     `json:"name"`
	In          string     `json:"in"`
	Description string     `json:"description,omitempty"`
	Required    bool       `json:"required"`
	Schema      *apiSchema `json:"schema"`
}

type apiRequestBody struct {
	Description string              `json:"description,omitempty"`
	Required    bool                `json:"required"`
	Content     map[string]apiMedia `json:"content"`
}

type apiMedia struct {
	Schema   *apiSchema             `json:"schema"`
	Encoding map[string]apiEncoding `json:"encoding,omitempty"`
}

// apiEncoding says how a form member is encoded.
type apiEncoding struct {
	// AllowReserved: the value may hold RFC 3986 reserved characters
	// (client_assertion_type's URN has colons).
	AllowReserved bool `json:"allowReserved,omitempty"`
}

type apiResponse struct {
	Description string                `json:"description"`
	Headers     map[string]*apiHeader `json:"headers,omitempty"`
	Content     map[string]apiMedia   `json:"content,omitempty"`
}

type apiHeader struct {
	Description string     `json:"description,omitempty"`
	Required    bool       `json:"required"`
	Schema      *apiSchema `json:"schema"`
}

type apiComponents struct {
	Schemas         map[string]*apiSchema         `json:"schemas,omitempty"`
	SecuritySchemes map[string]*apiSecurityScheme `json:"securitySchemes,omitempty"`
}

type apiSecurityScheme struct {
	Type         string `json:"type"`
	Scheme       string `json:"scheme"`
	BearerFormat string `json:"bearerFormat,omitempty"`
	Description  string `json:"description,omitempty"`
}

// apiSchema is a JSON Schema 2020-12 schema, the dialect of OpenAPI 3.1.
type apiSchema struct {
	Ref         string                `json:"$ref,omitempty"`
	Type        string                `json:"type,omitempty"`
	Description string                `json:"description,omitempty"`
	Format      string                `json:"format,omitempty"`
	Const       any                   `json:"const,omitempty"`
	Enum        []string              `json:"enum,omitempty"`
	MinLength   int                   `json:"minLength,omitempty"`
	MaxLength   int                   `json:"maxLength,omitempty"`
	Pattern     string                `json:"pattern,omitempty"`
	Minimum     *int64                `json:"minimum,omitempty"`
	Properties  map[string]*apiSchema `json:"properties,omitempty"`
	Required    []string              `json:"required,omitempty"`
	// AdditionalProperties is false or a schema; nil leaves it out (any
	// member is allowed).
	AdditionalProperties any          `json:"additionalProperties,omitempty"`
	Items                *apiSchema   `json:"items,omitempty"`
	OneOf                []*apiSchema `json:"oneOf,omitempty"`
	AnyOf                []*apiSchema `json:"anyOf,omitempty"`
	Examples             []any        `json:"examples,omitempty"`
}
